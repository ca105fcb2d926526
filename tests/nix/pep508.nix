# Unit tests of lib/pep508.nix: markers and specifiers for one target (the values agree with
# packaging's Marker.evaluate / SpecifierSet.contains for the same environment).
let
  p = import ../../lib/pep508.nix { };
  linux = p.environment { python = "3.11.2"; system = "x86_64-linux"; };
  mac = p.environment { python = "3.12.1"; system = "aarch64-darwin"; dependencyGroups = [ "dev" ]; };
  all = env: map (p.evaluate env);
  markers = [
    "sys_platform == 'win32'"
    "python_version >= '3.10' and (sys_platform == 'linux' or os_name == 'nt')"
    "python_full_version < '3.11.3'"
    "'x' in extras"
    "'dev' in dependency_groups"
    "platform_machine == 'arm64' and platform_system == \"Darwin\""
    "python_version ~= '3.11'"
    "python_version == '3.*'"
    "'3.1' < python_version"
    "implementation_name == 'cpython' and extra == ''"
    ""
  ];
in
{
  environmentLinux = {
    expr = { inherit (linux) python_version sys_platform platform_machine platform_system; };
    expected = {
      python_version = "3.11"; sys_platform = "linux"; platform_machine = "x86_64"; platform_system = "Linux";
    };
  };
  environmentDarwin = {
    expr = { inherit (mac) python_version sys_platform platform_machine; };
    expected = { python_version = "3.12"; sys_platform = "darwin"; platform_machine = "arm64"; };
  };
  markersLinux = {
    expr = all linux markers;
    expected = [ false true true false false false true true true true true ];
  };
  markersDarwin = {
    expr = all mac markers;
    expected = [ false false false false true true true true true true true ];
  };
  # Versions compare as versions, not strings: "3.9" < "3.11".
  versionsNotStrings = { expr = p.evaluate linux "python_version > '3.9'"; expected = true; };
  unknownVariable = { expr = (builtins.tryEval (p.evaluate linux "os == 'x'")).success; expected = false; };
  unclosed = { expr = (builtins.tryEval (p.evaluate linux "(os_name == 'posix'")).success; expected = false; };
  garbage = { expr = (builtins.tryEval (p.evaluate linux "os_name = 'posix'")).success; expected = false; };
  specifiers = {
    expr = map (p.satisfies "3.11.2")
      [ ">=3.11" "==3.11.*" "<3.11" "~=3.10" "~=3.10.1" "==3.11" ">=3.9, <3.13" "!=3.11.*" "" "===3.11.2" ];
    expected = [ true true false true false false true false true true ];
  };
  paddedEquality = { expr = p.satisfies "3.11.0" "==3.11"; expected = true; };
}

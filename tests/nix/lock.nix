# Unit tests of lib/lock.nix: the target checks, and a corpus of tampered locks (a real lock
# of the golden set, with one field removed, retyped or changed per case), each giving the
# problem that names its field. Every golden lock must have no problem at all.
let
  surface = { system = "x86_64-linux"; };
  lockLib = import ../../lib/lock.nix { inherit surface; };
  inherit (lockLib) problems;
  python = { version = "3.11.2"; pythonVersion = "3.11"; };
  lock = { version = 2; target = { python = "3.11.7"; system = "x86_64-linux"; }; roots = [ ]; packages = { }; };
  checks = l: py:
    (builtins.tryEval (lockLib.check { lock = l; basePython = py; pythonAttr = "python3"; }).version).success;
  ok = l: checks l python;

  golden = ../data/golden;
  goldenLocks = builtins.filter (n: builtins.match ".*[.]lock[.]json" n != null)
    (builtins.attrNames (builtins.readDir golden));
  read = name: builtins.fromJSON (builtins.readFile (golden + "/${name}"));

  # Wheels, an sdist (itsdangerous) and, from another golden lock, a nixpkgs entry (certifi).
  flask = read "flask-1.0-old-stack.lock.json";
  certifi = (read "nixpkgs-inventory.lock.json").packages.certifi;
  base = flask // { packages = flask.packages // { inherit certifi; }; };
  flaskPython = { version = "3.8.18"; pythonVersion = "3.8"; };

  setIn = path: value: s:
    if path == [ ] then value
    else let k = builtins.head path; in s // { ${k} = setIn (builtins.tail path) value (s.${k} or { }); };
  dropIn = path: s:
    let k = builtins.head path; in
    if builtins.tail path == [ ] then builtins.removeAttrs s [ k ]
    else s // { ${k} = dropIn (builtins.tail path) s.${k}; };

  # The first problem of the base lock with `path` set to `value` / removed.
  first = l: let p = problems l; in if p == [ ] then null else builtins.head p;
  with' = path: value: first (setIn path value base);
  without = path: first (dropIn path base);
  pkg = name: base.packages.${name};
  case = expr: expected: { inherit expr expected; };
in
{
  same = case (ok lock) true;
  otherFormat = case (ok (lock // { version = 3; })) false;
  # A version-1 lock (no locked build systems) is refused with the command that rewrites it.
  formatOne = case (ok (lock // { version = 1; })) false;
  otherPython = case (ok (lock // { target = lock.target // { python = "3.12.1"; }; })) false;
  otherSystem = case (ok (lock // { target = lock.target // { system = "aarch64-darwin"; }; })) false;

  # Valid locks.
  baseIsValid = case (problems base) [ ];
  baseChecks = case (checks base flaskPython) true;
  everyGoldenLockIsValid = case (builtins.filter (n: problems (read n) != [ ]) goldenLocks) [ ];
  goldenLocksAreFound = case (builtins.length goldenLocks >= 15) true;
  tamperedFailsTheCheck = case (checks (setIn [ "packages" "click" "artifact" "sha256" ] "0" base) flaskPython) false;
  everyProblemIsListed = case
    (builtins.length (problems (setIn [ "packages" "click" "version" ] 8 (dropIn [ "packages" "flask" "name" ] base))))
    2;

  # The top level.
  notAnObject = case (first [ 1 2 ]) "the lock must be a JSON object, not a list";
  versionMissing = case (without [ "version" ]) "version is missing";
  versionString = case (with' [ "version" ] "2") "version must be the integer 2, not \"2\"";
  versionOther = case (with' [ "version" ] 3) "version is 3: this mach-nix reads format version 2";
  # Lock format 2's build systems (itsdangerous is an sdist of the flask lock).
  buildSystemDangling = case (with' [ "packages" "itsdangerous" "build_system" ] [ "setuptools==0" ])
    "packages.itsdangerous.build_system[0] is \"setuptools==0\", which is not a key of build_packages";
  buildPackageKey = let k = builtins.head (pkg "itsdangerous").build_system; in
    case (with' [ "build_packages" k "version" ] "0")
      ("build_packages.${builtins.toJSON k}.version is \"0\", but the key is ${builtins.toJSON k} "
        + "(it must be `name==version`)");
  buildPackageSdist = let k = builtins.head (pkg "itsdangerous").build_system; in
    case (with' [ "build_packages" k "artifact" "filename" ] "setuptools-1.tar.gz")
      "build_packages.${builtins.toJSON k}.artifact.filename must be a wheel (`.whl`), not \"setuptools-1.tar.gz\"";
  buildUnlockedType = case (with' [ "packages" "itsdangerous" "build_system_unlocked" ] "yes")
    "packages.itsdangerous.build_system_unlocked must be true or false, not \"yes\"";
  targetMissing = case (without [ "target" ]) "target is missing";
  targetString = case (with' [ "target" ] "x86_64-linux") "target must be an object, not \"x86_64-linux\"";
  targetPythonMissing = case (without [ "target" "python" ]) "target.python is missing";
  targetPythonInt = case (with' [ "target" "python" ] 311) "target.python must be a string, not 311";
  targetPythonMinor = case (with' [ "target" "python" ] "3.8")
    "target.python must be a full CPython version (`3.11.7`), not \"3.8\"";
  targetSystemMissing = case (without [ "target" "system" ]) "target.system is missing";
  targetSystemNull = case (with' [ "target" "system" ] null) "target.system must be a string, not null";
  targetImplementation = case (with' [ "target" "implementation" ] "pypy")
    "target.implementation must be \"cpython\", not \"pypy\"";
  targetGlibcNumber = case (with' [ "target" "glibc" ] true) "target.glibc must be a string or null, not true";
  inputsHash = case (with' [ "inputs_hash" ] "md5:abc")
    "inputs_hash must be `sha256:` and 64 lowercase hexadecimal digits, not \"md5:abc\"";
  providersString = case (with' [ "providers" "_default" ] "wheel")
    "providers._default must be a list, not \"wheel\"";
  providersUnknown = case (with' [ "providers" "_default" ] [ "wheel" "conda" ])
    "providers._default[1] is \"conda\", not one of wheel, sdist, nixpkgs";
  rootsMissing = case (without [ "roots" ]) "roots is missing";
  rootsString = case (with' [ "roots" ] "flask") "roots must be a list, not \"flask\"";
  rootsInt = case (with' [ "roots" ] [ 5 ]) "roots[0] must be a string, not 5";
  rootsDangling = case (with' [ "roots" ] (base.roots ++ [ "django" ]))
    "roots[4] is \"django\", which is not a key of packages";
  packagesMissing = case (without [ "packages" ]) "packages is missing";
  packagesList = case (with' [ "packages" ] [ ]) "packages must be an object, not a list";

  # A package.
  entryString = case (with' [ "packages" "click" ] "8.1.8") "packages.click must be an object, not \"8.1.8\"";
  nameMissing = case (without [ "packages" "click" "name" ]) "packages.click.name is missing";
  nameEmpty = case (with' [ "packages" "click" "name" ] "") "packages.click.name is empty";
  nameInt = case (with' [ "packages" "click" "name" ] 1) "packages.click.name must be a string, not 1";
  nameOther = case (with' [ "packages" "click" "name" ] "clack")
    "packages.click.name is \"clack\", but its key in packages is \"click\"";
  keyEmpty = case (first (base // { packages = base.packages // { "" = pkg "click" // { name = ""; }; }; }))
    "packages has an empty key";
  keyNotNormalised = case
    (first (base // { packages = base.packages // { Click = pkg "click" // { name = "Click"; }; }; }))
    ("packages has the key \"Click\", which is not a normalised project name (lowercase letters, digits and single "
      + "dashes, as `requests` or `zope-interface`)");
  versionOfPackageMissing = case (without [ "packages" "click" "version" ]) "packages.click.version is missing";
  versionOfPackageInt = case (with' [ "packages" "click" "version" ] 8)
    "packages.click.version must be a string, not 8";
  versionOfPackageEmpty = case (with' [ "packages" "click" "version" ] "") "packages.click.version is empty";
  versionOfPackageShell = case (with' [ "packages" "click" "version" ] "8.1.8; rm -rf ~")
    "packages.click.version must be a version (letters, digits, `._+!-`), not \"8.1.8; rm -rf ~\"";
  providerMissing = case (without [ "packages" "click" "provider" ]) "packages.click.provider is missing";
  providerUnknown = case (with' [ "packages" "click" "provider" ] "conda")
    "packages.click.provider is \"conda\", not one of wheel, sdist, nixpkgs, local, url, vcs";
  providerList = case (with' [ "packages" "click" "provider" ] [ "wheel" ])
    "packages.click.provider must be a string, not a list";
  dependenciesMissing = case (without [ "packages" "click" "dependencies" ])
    "packages.click.dependencies is missing";
  dependenciesString = case (with' [ "packages" "jinja2" "dependencies" ] "markupsafe")
    "packages.jinja2.dependencies must be a list, not \"markupsafe\"";
  dependencyInt = case (with' [ "packages" "jinja2" "dependencies" ] [ 1 ])
    "packages.jinja2.dependencies[0] must be a string, not 1";
  dependencyDangling = case (with' [ "packages" "jinja2" "dependencies" ] [ "markupsafe" "babel" ])
    "packages.jinja2.dependencies[1] is \"babel\", which is not a key of packages";
  dependencySelf = case (with' [ "packages" "jinja2" "dependencies" ] [ "jinja2" ])
    "packages.jinja2.dependencies[0] is the package itself";
  extrasString = case (with' [ "packages" "click" "extras" ] "") "packages.click.extras must be a list, not \"\"";
  rootString = case (with' [ "packages" "click" "root" ] "yes")
    "packages.click.root must be true or false, not \"yes\"";
  rootNotInRoots = case (with' [ "packages" "click" "root" ] true)
    "packages.click.root is true, but roots does not list \"click\"";
  rootsNotRoot = case (with' [ "packages" "flask" "root" ] false)
    "packages.flask.root is false, but roots lists \"flask\"";
  yankedString = case (with' [ "packages" "click" "yanked" ] "no")
    "packages.click.yanked must be true or false, not \"no\"";
  buildRequiresString = case (with' [ "packages" "itsdangerous" "build_requires" ] "setuptools")
    "packages.itsdangerous.build_requires must be a list, not \"setuptools\"";
  dependenciesKnownString = case (with' [ "packages" "certifi" "dependencies_known" ] "true")
    "packages.certifi.dependencies_known must be true or false, not \"true\"";
  nixpkgsAttrMissing = case (without [ "packages" "certifi" "nixpkgs_attr" ])
    "packages.certifi.nixpkgs_attr is missing";
  nixpkgsAttrShell = case (with' [ "packages" "certifi" "nixpkgs_attr" ] "certifi\${x}")
    "packages.certifi.nixpkgs_attr must be an attribute name of the Python package set, not \"certifi\${x}\"";

  # An artifact.
  artifactMissing = case (without [ "packages" "click" "artifact" ]) "packages.click.artifact is missing";
  artifactString = case (with' [ "packages" "click" "artifact" ] "click.whl")
    "packages.click.artifact must be an object, not \"click.whl\"";
  filenameMissing = case (without [ "packages" "click" "artifact" "filename" ])
    "packages.click.artifact.filename is missing";
  filenamePath = case (with' [ "packages" "click" "artifact" "filename" ] "../../etc/passwd")
    "packages.click.artifact.filename must be a file name (letters, digits, `._+-`), not \"../../etc/passwd\"";
  filenameNotWheel = case (with' [ "packages" "click" "artifact" "filename" ] "click-8.1.8.tar.gz")
    "packages.click.artifact.filename must be a wheel (`.whl`), not \"click-8.1.8.tar.gz\"";
  filenameNotSdist = case
    (with' [ "packages" "itsdangerous" "artifact" "filename" ] "itsdangerous-0.24-py3-none-any.whl")
    ("packages.itsdangerous.artifact.filename must be a source archive (`.tar.gz`, `.zip`, …), "
      + "not \"itsdangerous-0.24-py3-none-any.whl\"");
  urlMissing = case (without [ "packages" "click" "artifact" "url" ]) "packages.click.artifact.url is missing";
  urlHttp = case
    (with' [ "packages" "click" "artifact" "url" ] "http://files.pythonhosted.org/click-8.1.8-py3-none-any.whl")
    ("packages.click.artifact.url must be an https:// URL, "
      + "not \"http://files.pythonhosted.org/click-8.1.8-py3-none-any.whl\"");
  urlFile = case (with' [ "packages" "click" "artifact" "url" ] "file:///etc/passwd")
    "packages.click.artifact.url must be an https:// URL, not \"file:///etc/passwd\"";
  urlInt = case (with' [ "packages" "click" "artifact" "url" ] 443)
    "packages.click.artifact.url must be a string, not 443";
  sha256Missing = case (without [ "packages" "click" "artifact" "sha256" ])
    "packages.click.artifact.sha256 is missing";
  sha256Upper = case
    (with' [ "packages" "click" "artifact" "sha256" ]
      (builtins.replaceStrings [ "c" ] [ "C" ] (pkg "click").artifact.sha256))
    ("packages.click.artifact.sha256 must be 64 lowercase hexadecimal digits, not "
      + "\"63C132bbbed01578a06712a2d1f497bb62d9C1C0d329b7903a8662280...\"");
  sha256Short = case (with' [ "packages" "click" "artifact" "sha256" ] "63c132bb")
    "packages.click.artifact.sha256 must be 64 lowercase hexadecimal digits, not \"63c132bb\"";
  sha256Base32 = case
    (with' [ "packages" "click" "artifact" "sha256" ] "0v0x8nrmd3c6sc3dyyy0rbsbkyb4dvmnzv8qcyvmxw4k3nl6cbn8")
    ("packages.click.artifact.sha256 must be 64 lowercase hexadecimal digits, not "
      + "\"0v0x8nrmd3c6sc3dyyy0rbsbkyb4dvmnzv8qcyvmxw4k3nl6cbn8\"");
  sha256Null = case (with' [ "packages" "click" "artifact" "sha256" ] null)
    "packages.click.artifact.sha256 must be a string, not null";
  keyWithDot = case (with' [ "packages" "click" "artifact" "extra.key" ] 1) null;
}

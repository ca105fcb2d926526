# Unit tests of lib/targets.nix: a container made of golden locks, the entry picked per system and
# interpreter version, and one problem per tampered field.
let
  targetsFor = system: import ../../lib/targets.nix { surface = { inherit system; }; };
  inherit (targetsFor "x86_64-linux") problems isTargets;
  golden = ../data/golden;
  read = name: builtins.fromJSON (builtins.readFile (golden + "/${name}"));
  darwin = read "greenlet-pillow-aarch64-darwin.lock.json";       # 3.12.3 on aarch64-darwin
  darwinLater = darwin // { target = darwin.target // { python = "3.12.9"; }; };
  armLinux = read "greenlet-pillow-aarch64-linux.lock.json";      # 3.9.19 on aarch64-linux
  flask = read "flask-1.0-old-stack.lock.json";                   # 3.8.18 on x86_64-linux
  container = {
    kind = "mach-nix-targets";
    version = 1;
    order = [ "3.12.9-aarch64-darwin" "3.12.3-aarch64-darwin" "3.9.19-aarch64-linux" "3.8.18-x86_64-linux" ];
    targets = {
      "3.12.9-aarch64-darwin" = darwinLater;
      "3.12.3-aarch64-darwin" = darwin;
      "3.9.19-aarch64-linux" = armLinux;
      "3.8.18-x86_64-linux" = flask;
    };
    differences = [ { name = "click"; versions = { "3.8.18-x86_64-linux" = "7.1.2"; "3.9.19-aarch64-linux" = null; };
      reason = "only on 3.8.18-x86_64-linux: flask 1.0 requires it"; } ];
  };
  py = version: { inherit version; pythonVersion = builtins.concatStringsSep "."
    (builtins.genList (builtins.elemAt (builtins.splitVersion version)) 2); };
  pickOn = system: version: ((targetsFor system).pick { lock = container; basePython = py version; }).target;
  picks = system: version: (builtins.tryEval (pickOn system version).python).success;
  first = c: let p = problems c; in if p == [ ] then null else builtins.head p;
  case = expr: expected: { inherit expr expected; };
in
{
  valid = case (problems container) [ ];
  recognised = case [ (isTargets container) (isTargets flask) (isTargets { lock-version = "1.0"; }) ]
    [ true false false ];

  exactVersion = case (pickOn "aarch64-darwin" "3.12.3") darwin.target;
  sameMinorFirstInOrder = case (pickOn "aarch64-darwin" "3.12.5").python "3.12.9";
  otherSystem = case (pickOn "aarch64-linux" "3.9.2").system "aarch64-linux";
  linux = case (pickOn "x86_64-linux" "3.8.18") flask.target;
  missingSystem = case (picks "x86_64-darwin" "3.12.3") false;
  missingPython = case (picks "x86_64-linux" "3.12.3") false;
  damagedIsRefused = case (builtins.tryEval ((targetsFor "aarch64-darwin").pick {
    lock = container // { order = [ ]; }; basePython = py "3.12.3"; }).target).success false;

  notAnObject = case (first [ ]) "the lock must be a JSON object, not a list";
  kindOther = case (first (container // { kind = "mach-nix-lock"; }))
    "kind is \"mach-nix-lock\", not \"mach-nix-targets\"";
  versionOther = case (first (container // { version = 2; }))
    "version is 2: this mach-nix reads version 1 of the container";
  targetsMissing = case (first (builtins.removeAttrs container [ "targets" ])) "targets is missing";
  entryNotObject = case (first (container // { targets = container.targets // { "3.9.19-aarch64-linux" = [ ]; }; }))
    "targets.\"3.9.19-aarch64-linux\" must be an object (a mach-nix lock), not a list";
  entryWrongKey = case (first (container // { targets = container.targets // { "3.9.19-aarch64-linux" = flask; }; }))
    "targets.\"3.9.19-aarch64-linux\" is the lock of \"3.8.18-x86_64-linux\", not of its key";
  entryTargetMissing = case
    (first (container // { targets = container.targets // { "3.8.18-x86_64-linux" = { packages = { }; }; }; }))
    "targets.\"3.8.18-x86_64-linux\".target is missing";
  orderEmpty = case (first (container // { order = [ ]; })) "order is empty: the lock has no target";
  orderNumber = case (first (container // { order = [ 1 ]; })) "order[0] must be a string, not 1";
  orderTwice = case (first (container // { order = container.order ++ [ "3.8.18-x86_64-linux" ]; }))
    "order names a target more than once";
  orderUnknown = case (first (container // { order = container.order ++ [ "3.13.0-x86_64-linux" ]; }))
    "order lists \"3.13.0-x86_64-linux\", which is not a key of targets";
  orderIncomplete = case (first (container // { order = builtins.tail container.order; }))
    "targets.\"3.12.9-aarch64-darwin\" is not listed in order";
  differencesOptional = case (problems (builtins.removeAttrs container [ "differences" ])) [ ];
  differenceVersion = case
    (first (container // { differences = [ { name = "x"; reason = "r"; versions = { a = 1; }; } ]; }))
    "differences[0].versions.a must be a string or null, not 1";
  differenceReason = case (first (container // { differences = [ { name = "x"; versions = { }; } ]; }))
    "differences[0].reason is missing";
}

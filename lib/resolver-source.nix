# The resolver's Python sources (resolver/), as a store path for builders' PYTHONPATH.
# Only this directory is copied, so edits elsewhere in the repository do not invalidate
# resolutions.
{ util }:
builtins.path {
  name = "mach-nix-resolver";
  path = ../resolver;
  filter = path: type: !(builtins.elem (baseNameOf path) [ "__pycache__" ".pytest_cache" ]) && !(util.hasSuffix ".egg-info" path);
}

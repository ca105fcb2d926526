# Unit tests of lib/graph.nix.
let
  graph = import ../../lib/graph.nix { };
  acyclic = edges: builtins.all (n: !(builtins.elem n (reach edges [ ] edges.${n}))) (builtins.attrNames edges);
  reach = edges: seen: todo:
    if todo == [ ] then seen
    else let h = builtins.head todo; t = builtins.tail todo; in
      if builtins.elem h seen then reach edges seen t else reach edges (seen ++ [ h ]) (t ++ (edges.${h} or [ ]));
  cutOf = edges: cut: builtins.mapAttrs (n: deps: builtins.filter (d: !(cut ? "${n}>${d}")) deps) edges;
  dask = {
    dask = [ "distributed" "toolz" ];
    distributed = [ "dask" "toolz" "tornado" ];
    toolz = [ ];
    tornado = [ ];
  };
in
{
  noCycle = { expr = graph.backEdges { edges = { a = [ "b" ]; b = [ ]; }; }; expected = { }; };
  selfLoop = { expr = graph.backEdges { edges = { a = [ "a" ]; }; }; expected = { "a>a" = true; }; };
  # Without preferences the search goes by name: the edge back to "dask" is cut.
  byName = { expr = graph.backEdges { edges = dask; }; expected = { "distributed>dask" = true; }; };
  # nixpkgs' recipe has distributed -> dask: that edge survives, the lock's other one is cut.
  preferredKept = {
    expr = graph.backEdges { edges = dask; preferred = { distributed = [ "dask" ]; }; };
    expected = { "dask>distributed" = true; };
  };
  namesOutsideIgnored = { expr = graph.backEdges { edges = { a = [ "zzz" ]; }; }; expected = { }; };
  threeCycleBroken = {
    expr = let edges = { a = [ "b" ]; b = [ "c" ]; c = [ "a" ]; }; in
      acyclic (cutOf edges (graph.backEdges { inherit edges; }));
    expected = true;
  };
  twoCyclesBroken = {
    expr = let edges = { a = [ "b" "c" ]; b = [ "a" ]; c = [ "a" "b" ]; }; in
      acyclic (cutOf edges (graph.backEdges { inherit edges; preferred = { c = [ "a" ]; }; }));
    expected = true;
  };
}

# Dependency graphs of a lock: which edges to cut so that the packages can be built.
# Pure functions over plain data (no nixpkgs), unit-tested in tests/nix/graph.nix.
{ }:
{
  /*
    The back edges of a depth-first search: cutting them leaves an acyclic graph.

    `edges` maps every node to the nodes it depends on (successors that are not nodes
    are ignored). `preferred` names, per node, successors whose edges should survive:
    nixpkgs' own dependency edges, which cost a rebuild when cut. They must form an
    acyclic graph (nixpkgs' recipes always do). The search starts at the nodes highest
    in the preferred graph (dependants before their dependencies), then by name, and
    follows preferred edges first, so a cycle is closed, and cut, by one of its other
    edges whenever it has one. The result is a set of "<from>><to>" names.

    Type: backEdges :: { edges :: AttrSet [String], preferred :: AttrSet [String] } -> AttrSet Bool

    Example:
      backEdges { edges = { a = [ "b" ]; b = [ "a" ]; }; preferred = { b = [ "a" ]; }; }
      => { "a>b" = true; }
  */
  backEdges = { edges, preferred ? { } }:
    let
      preferredOf = name: builtins.filter (dep: edges ? ${dep}) (preferred.${name} or [ ]);
      successors = name:
        let first = preferredOf name;
        in first ++ builtins.filter (dep: !(builtins.elem dep first)) edges.${name};
      # 1 + the longest preferred path below a node (memoised in an attribute set).
      height = builtins.mapAttrs
        (name: _: 1 + builtins.foldl' (best: dep: if height.${dep} > best then height.${dep} else best) 0
          (preferredOf name))
        edges;
      order = builtins.sort
        (a: b: if height.${a} != height.${b} then height.${a} > height.${b} else a < b)
        (builtins.attrNames edges);
      visit = state: name:
        if state.done ? ${name} then state
        else
          let
            entered = state // { onPath = state.onPath // { ${name} = true; }; };
            afterDeps = builtins.foldl'
              (st: dep:
                if !(edges ? ${dep}) then st
                else if st.onPath ? ${dep} then st // { cut = st.cut // { "${name}>${dep}" = true; }; }
                else visit st dep)
              entered
              (successors name);
          in
          afterDeps // {
            onPath = builtins.removeAttrs afterDeps.onPath [ name ];
            done = afterDeps.done // { ${name} = true; };
          };
    in
    (builtins.foldl' visit { done = { }; onPath = { }; cut = { }; } order).cut;
}

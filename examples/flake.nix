{
  # mach-nix's flake templates in a flake without inputs: `nix flake init -t path:<mach-nix>/examples`
  # needs no network (the root flake re-exports them as `nix flake init -t mach-nix`).
  description = "Templates of mach-nix";

  outputs = { self }: {
    templates.default = {
      path = ./flake-template;
      description = "A Python environment (and a dev shell with the project editable) from requirements.txt";
    };
  };
}

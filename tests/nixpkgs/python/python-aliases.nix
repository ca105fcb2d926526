# Aliases of the double's set (nixpkgs: python-aliases.nix), present when config.allowAliases:
# a redirect, a removed package that throws, and a bare string (all three kinds exist upstream).
self: super: {
  charset_normalizer = self.charset-normalizer;                # redirect
  path-py = self.path;       # redirect to another PyPI project (path.py was renamed to path)
  pyopenssl-legacy = throw "'pyopenssl-legacy' has been removed from the package set";  # throw
  cryptography_vectors = "cryptography_vectors is no longer a package";  # string alias
}

# Sourced by the device scripts that run binaries built elsewhere and carried in .dev/: the
# shared libraries they need that this machine lacks come from .dev/bundle (linked into .dev/lib,
# each only where ldconfig does not know it), and LD_LIBRARY_PATH names .dev/lib.
mkdir -p .dev/lib
for lib in $(ls .dev/bundle); do
  ldconfig -p | grep -q "^\s*$lib " || ln -sf "$PWD/.dev/bundle/$lib" ".dev/lib/$lib"
done
export LD_LIBRARY_PATH="$PWD/.dev/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

"""The compiled parts of sinecli: rocket's PPV counting (sinecli/models/rocket/_ppv.c) and
Hydra's counts (sinecli/models/hydra/_hydra.c), both sharing sinecli/models/_simd.h.

Optional: where no C compiler (or no GCC-compatible one) builds them, the install goes on and
the transforms run their torch paths, which give the same features to the bit
(docs/performance.md). Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

#: no fused multiply-add, no reassociation: the torch paths' float operations exactly
FLAGS = ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-fast-math"]

setup(ext_modules=[
    Extension(f"sinecli.models.{family}.{name}", [f"sinecli/models/{family}/{name}.c"],
              depends=["sinecli/models/_simd.h"], extra_compile_args=FLAGS, optional=True)
    for family, name in (("rocket", "_ppv"), ("hydra", "_hydra"))
])

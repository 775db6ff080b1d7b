"""The one compiled part of sinecli: rocket's PPV counting (sinecli/models/rocket/_ppv.c).

Optional: where no C compiler (or no GCC-compatible one) builds it, the install goes on and
the transform runs its torch path, which gives the same features to the bit
(docs/performance.md, "rocket's transform"). Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "sinecli.models.rocket._ppv", ["sinecli/models/rocket/_ppv.c"],
    # no fused multiply-add, no reassociation: the torch path's float operations exactly
    extra_compile_args=["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-fast-math"],
    optional=True,
)])

"""harness-test-broken: importing it fails, as a plugin whose native library is missing does."""

raise ImportError("harness-test-broken needs libwordvec.so, which is not installed")

"""The control→data contract: snapshot Structs, Redis key/channel names, bucketing.

This package is the only part of `gateway` that `control` may import. It does no I/O.
"""

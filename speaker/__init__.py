"""anycast-speaker: announce an anycast prefix through ExaBGP only while its service is healthy."""

__version__ = "0.1.0"

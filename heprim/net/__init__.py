"""Drivers that move protocol messages: the in-process simulator (:mod:`heprim.net.simulate`)."""

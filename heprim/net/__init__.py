"""Drivers that move protocol messages: the in-process simulator (:mod:`heprim.net.simulate`),
the point-to-point TCP driver (:mod:`heprim.net.tcp`, private join and compute) and the
many-clients TCP driver of secure aggregation, SecAgg and the HE protocols alike
(:mod:`heprim.net.aggregation`)."""

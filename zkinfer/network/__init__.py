"""The consensus layer: a gateway over several untrusted nodes, quorum certificates, evidence."""

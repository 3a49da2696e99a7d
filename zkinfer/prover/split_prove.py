"""The names `zkinfer.split_cli` imported before one prover served split and unsplit circuits.

Kept only until the CLI package lands; new code calls `zkinfer.prover.prove.ChainProver` or
`prove_receipt` (an unsplit circuit is a chain of one segment).
"""

from zkinfer.prover.prove import ChainProver as SplitProver
from zkinfer.prover.prove import prove_file as prove_split_file

__all__ = ["SplitProver", "prove_split_file"]

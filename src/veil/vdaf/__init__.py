"""Verifiable distributed aggregation: fields, XOFs, the BBCGGI19 FLP and Prio3
(draft-irtf-cfrg-vdaf-20). See docs/vdaf.md. Import submodules directly, e.g.
``from veil.vdaf.prio3 import Prio3SumVec``.
"""

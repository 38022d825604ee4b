"""Vertical federated learning: parties hold different columns of the same customers.

The label party (the *guest*: it holds the labels, drives every protocol and holds the
homomorphic-encryption key) and the other parties (*hosts*: features only) first align
their rows by private set intersection (:mod:`~veil.vertical.align`), then train without
anyone seeing another party's features or the labels: SecureBoost
(:mod:`~veil.vertical.secureboost`) and hetero logistic regression
(:mod:`~veil.vertical.hetero_lr`). Messages are sealed and signed
(:mod:`~veil.vertical.envelope`); hosts run in-process (:mod:`~veil.vertical.local`) or as
processes (:mod:`~veil.vertical.server`). docs/vertical.md is the specification.
"""

"""What the consortium's model relies on and who made it good (docs/explain.md).

* :mod:`veil.fl.explain.importance` — global permutation importance per original column,
  computed by each member on its own held-out rows and summed with verified aggregation
  (or a plain in-process sum without ``--secure``), so no party sees one member's vector;
* :mod:`veil.fl.explain.contributions` — each member's contribution to the final model's
  AUC: leave-one-out and truncated Monte Carlo Shapley over re-run sub-federations;
* :mod:`veil.fl.explain.local` — one decision explained where its row lives (per-column
  Shapley values of the released model against a synthetic reference applicant).
"""

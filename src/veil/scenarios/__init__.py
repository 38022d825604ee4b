"""Consortium demonstrations: several institutions train one model together while each
one's raw data stays sealed on its own side (finance: banks and credit risk; medical:
hospitals and tumour diagnosis)."""

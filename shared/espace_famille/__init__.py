"""Espace Famille's domain: invoices of régies, accounts, claims and payments, shared by every Lambda."""

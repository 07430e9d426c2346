"""Payments: transactions, providers (Stripe, PayPal, cash), refunds, webhooks, invoices."""

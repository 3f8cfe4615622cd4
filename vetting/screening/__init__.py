"""Screening collected items: identity evidence, policy-category leads, and the firewall."""

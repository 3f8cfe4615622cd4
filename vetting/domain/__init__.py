"""What a vetting is made of: the tables, procedures, candidates, approvals, the signed authorization."""

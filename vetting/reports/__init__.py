"""What people read: the findings, written-process and audit reports, their receipts, the redacted
pictures and the evidence package."""

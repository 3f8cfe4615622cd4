"""The workspace: its database, tamper-evident log index, evidence store, personal values, custody and case locks."""

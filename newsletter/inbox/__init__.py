"""`newsletter inbox`: what comes back after a send, read from the practitioner's IMAP mailbox."""

"""Read a contact list export (CSV of any known layout, or vCard) into uniform contacts.

`formats` holds one mapping per export format; `text` turns bytes into text; `table` reads
CSV records through a format; `vcard` reads Apple Contacts' .vcf. Validation and storage are
the caller's (`newsletter.mail.csvimport`).
"""

from newsletter.mail.importers.contact import Contact, Contacts

__all__ = ["Contact", "Contacts"]

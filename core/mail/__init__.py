"""Customer e-mail: raw messages in, plain typed values out.

``parse`` decodes one RFC 5322 message (any charset Chinese and English
customers' clients send, declared right or wrong) into a ``MailMessage``: plain
text, quoted-history offset, attachment list, and notes on whatever was broken.
``mbox`` streams the raw messages out of an mbox file.  Nothing here opens an
attachment or loads remote content.
"""

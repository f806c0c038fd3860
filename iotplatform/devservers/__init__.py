"""Stand-ins for the outside services a developer's machine does not have: an SMTP server that
keeps what it is sent (``mail_sink``) and an SMS gateway speaking Twilio's Messages API
(``sms_gateway``). ``make run`` starts both; the tests start them as real processes."""

-- The monthly review by e-mail, and who owns each maintenance window.

-- The address an agency's monthly review is mailed to (the catalogue's `email:` of an agency).
ALTER TABLE agencies ADD COLUMN email text;

-- Names of the app's maintenance windows made through the API. The others came from a catalogue
-- file; `catalog apply` replaces those and keeps these (docs/configuration.md).
ALTER TABLE apps ADD COLUMN maintenance_api text[] NOT NULL DEFAULT '{}';

-- One row per review mailed: (month, scope) is sent once, whatever restarts or replicas do.
-- scope: 'regency' or 'agency:<id>'.
CREATE TABLE review_mail_sent (
    month       text NOT NULL,
    scope       text NOT NULL,
    recipients  text[] NOT NULL,
    message_id  text NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (month, scope)
);

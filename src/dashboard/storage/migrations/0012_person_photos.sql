-- A photo per person, shown beside their events so security staff can compare face and badge.
-- Personal data: sealed (AES-256-GCM) under the master key like TOTP secrets, and gone with the
-- person (erasure deletes the person row; the photo follows through the foreign key).
CREATE TABLE person_photos (
  person_id    text PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
  content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
  bytes        integer NOT NULL CHECK (bytes > 0),
  photo_sealed text NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

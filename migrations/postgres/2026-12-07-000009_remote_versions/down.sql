ALTER TABLE remote_rooms DROP COLUMN source_updated_at;

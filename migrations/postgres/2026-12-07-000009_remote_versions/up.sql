-- The `updated` time of the last Video stored for a remote room: an older Update that arrives
-- late (deliveries retried out of order) is ignored instead of overwriting a newer title.
ALTER TABLE remote_rooms ADD COLUMN source_updated_at TIMESTAMP;

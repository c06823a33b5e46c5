-- hubd schema, version 2: where a voice turn's audio was kept
-- (`[audio] keep_recordings = true`); NULL for text turns and when not kept.
ALTER TABLE dialogue_turns ADD COLUMN audio_path TEXT;

-- `!ai transcribe on`: the AI posts a transcript of every voice message and audio file in the
-- room as a reply to it, so members on text-only platforms can read them.
ALTER TABLE ai_room ADD COLUMN transcribe boolean NOT NULL DEFAULT false;

-- The paper executor: each plugin's account (positions, working orders)
-- travels with its checkpoint, so a restart resumes both at one position.

ALTER TABLE checkpoints ADD COLUMN account bytea;

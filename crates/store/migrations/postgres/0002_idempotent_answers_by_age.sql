-- Each idempotency claim deletes its organization's expired keys (pending reservations
-- past their timeout, answers past their retention); this index finds them by age.
CREATE INDEX idempotent_answers_by_age ON idempotent_answers (organization_id, created_at);

-- A viewer follows a model of this instance (following one of another instance is `follows`,
-- through federation): the models she follows are listed on her "Following" page.
CREATE TABLE model_follows (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, model_id),
    CHECK (user_id <> model_id)
);
CREATE INDEX model_follows_model ON model_follows (model_id);

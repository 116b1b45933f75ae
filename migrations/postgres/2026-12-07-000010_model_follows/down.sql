DROP TABLE model_follows;

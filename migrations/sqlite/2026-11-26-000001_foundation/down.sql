DROP TABLE rooms;
DROP TABLE avatars;
DROP TABLE profiles;
DROP TABLE sessions;
DROP TABLE users;

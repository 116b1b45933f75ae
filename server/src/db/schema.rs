//! The one schema both backends share. Hand-written: both migration folders
//! (`migrations/sqlite`, `migrations/postgres`) must produce tables of this shape.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        kind -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    profiles (user_id) {
        user_id -> BigInt,
        display_name -> Text,
        bio -> Text,
        tags -> Text,
        languages -> Text,
        avatar_mime -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    avatars (user_id) {
        user_id -> BigInt,
        mime -> Text,
        bytes -> Binary,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rooms (id) {
        id -> BigInt,
        user_id -> BigInt,
        title -> Text,
        tags -> Text,
        status -> Text,
        viewer_count -> Integer,
        guest_count -> Integer,
        started_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(profiles -> users (user_id));
diesel::joinable!(avatars -> users (user_id));
diesel::joinable!(rooms -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(users, sessions, profiles, avatars, rooms);

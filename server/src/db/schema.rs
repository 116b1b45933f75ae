//! The one schema both backends share. Hand-written: both migration folders
//! (`migrations/sqlite`, `migrations/postgres`) must produce tables of this shape.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        suspended_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        referred_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    ledger_accounts (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        kind -> Text,
        balance -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ledger_transfers (id) {
        id -> BigInt,
        debit_account -> BigInt,
        credit_account -> BigInt,
        amount -> BigInt,
        kind -> Text,
        reference -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    tips (id) {
        id -> BigInt,
        tipper_id -> BigInt,
        model_id -> BigInt,
        room_id -> BigInt,
        amount -> BigInt,
        model_share -> BigInt,
        referral_total -> BigInt,
        instance_share -> BigInt,
        idempotency_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deposits (tx_hash, log_index) {
        tx_hash -> Text,
        log_index -> BigInt,
        user_id -> BigInt,
        amount -> BigInt,
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
        federated_at -> Nullable<Timestamp>,
        links -> Text,
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
        federated_at -> Nullable<Timestamp>,
        federated_status -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(profiles -> users (user_id));
diesel::joinable!(avatars -> users (user_id));
diesel::joinable!(rooms -> users (user_id));

diesel::table! {
    verifiers (id) {
        id -> BigInt,
        user_id -> BigInt,
        recipient -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    id_documents (id) {
        id -> BigInt,
        user_id -> BigInt,
        status -> Text,
        storage_key -> Nullable<Text>,
        sha256 -> Text,
        size_bytes -> BigInt,
        mime -> Text,
        uploaded_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<BigInt>,
        adult -> Bool,
        valid_until -> Nullable<Date>,
        reject_reason -> Nullable<Text>,
        deleted_at -> Nullable<Timestamp>,
        shred_after -> Nullable<Timestamp>,
        key_commitment -> Nullable<Text>,
    }
}

diesel::table! {
    id_document_keys (document_id) {
        document_id -> BigInt,
        wrapped_key -> Text,
        recipients -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<BigInt>,
        subject_id -> Nullable<BigInt>,
        document_id -> Nullable<BigInt>,
        action -> Text,
    }
}

diesel::table! {
    reports (id) {
        id -> BigInt,
        reporter_id -> Nullable<BigInt>,
        room_id -> BigInt,
        reason -> Text,
        created_at -> Timestamp,
        status -> Text,
        resolution -> Nullable<Text>,
        resolved_by -> Nullable<BigInt>,
        resolved_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(reports -> rooms (room_id));
diesel::joinable!(verifiers -> users (user_id));
diesel::joinable!(id_documents -> users (user_id));
diesel::joinable!(id_document_keys -> id_documents (document_id));

diesel::table! {
    actor_keys (name) {
        name -> Text,
        public_key_pem -> Text,
        private_key_pem -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    remote_actors (id) {
        id -> BigInt,
        ap_id -> Text,
        kind -> Text,
        username -> Text,
        domain -> Text,
        display_name -> Text,
        summary -> Text,
        icon_url -> Nullable<Text>,
        url -> Nullable<Text>,
        inbox -> Text,
        shared_inbox -> Nullable<Text>,
        followers_url -> Nullable<Text>,
        room_url -> Nullable<Text>,
        public_key_pem -> Text,
        fetched_at -> Timestamp,
    }
}

diesel::table! {
    follows (user_id, remote_actor_id) {
        user_id -> BigInt,
        remote_actor_id -> BigInt,
        activity_id -> Text,
        state -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> BigInt,
        room_id -> BigInt,
        user_id -> BigInt,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    model_follows (user_id, model_id) {
        user_id -> BigInt,
        model_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    followers (user_id, remote_actor_id) {
        user_id -> BigInt,
        remote_actor_id -> BigInt,
        activity_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    remote_rooms (id) {
        id -> BigInt,
        ap_id -> Text,
        remote_actor_id -> BigInt,
        title -> Text,
        tags -> Text,
        languages -> Text,
        status -> Text,
        viewer_count -> Integer,
        url -> Nullable<Text>,
        thumbnail_url -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        published_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        source_updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        activity_id -> Text,
        actor_name -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        outbox_id -> BigInt,
        inbox -> Text,
        domain -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    instances (domain) {
        domain -> Text,
        failing_since -> Nullable<Timestamp>,
        dead -> Bool,
        last_success_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        delivered -> Integer,
    }
}

diesel::table! {
    domain_policies (domain) {
        domain -> Text,
        policy -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    inbound_activities (activity_id) {
        activity_id -> Text,
        signature_sha256 -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    wallets (user_id) {
        user_id -> BigInt,
        address -> Text,
        bound_at -> Timestamp,
    }
}

diesel::table! {
    wallet_challenges (nonce) {
        nonce -> Text,
        address -> Text,
        purpose -> Text,
        message -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    chain_blocks (number) {
        number -> BigInt,
        hash -> Text,
        parent_hash -> Text,
        scanned_at -> Timestamp,
    }
}

diesel::table! {
    chain_deposits (tx_hash, log_index) {
        tx_hash -> Text,
        log_index -> BigInt,
        block_number -> BigInt,
        block_hash -> Text,
        from_address -> Text,
        value -> Text,
        units -> BigInt,
        dust -> Text,
        status -> Text,
        user_id -> Nullable<BigInt>,
        seen_at -> Timestamp,
        credited_at -> Nullable<Timestamp>,
        transfer_index -> BigInt,
        orphaned_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    chain_identity (id) {
        id -> BigInt,
        chain_id -> BigInt,
        genesis_hash -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    signer_nonces (address) {
        address -> Text,
        next_nonce -> BigInt,
    }
}

diesel::table! {
    payouts (id) {
        id -> BigInt,
        user_id -> BigInt,
        to_address -> Text,
        units -> BigInt,
        fee_units -> BigInt,
        value -> Text,
        status -> Text,
        nonce -> Nullable<BigInt>,
        tx_hash -> Nullable<Text>,
        block_number -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        idempotency_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        broadcast_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    payout_attempts (tx_hash) {
        tx_hash -> Text,
        payout_id -> BigInt,
        nonce -> BigInt,
        raw_tx -> Text,
        max_fee_per_gas -> BigInt,
        max_priority_fee_per_gas -> BigInt,
        signed_at -> Timestamp,
        broadcast_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(follows -> remote_actors (remote_actor_id));
diesel::joinable!(followers -> remote_actors (remote_actor_id));
diesel::joinable!(remote_rooms -> remote_actors (remote_actor_id));
diesel::joinable!(deliveries -> outbox (outbox_id));
diesel::joinable!(payout_attempts -> payouts (payout_id));
diesel::joinable!(wallets -> users (user_id));
diesel::joinable!(chat_messages -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    wallets,
    wallet_challenges,
    chain_blocks,
    chain_deposits,
    chain_identity,
    leases,
    signer_nonces,
    payouts,
    payout_attempts,
    ledger_accounts,
    ledger_transfers,
    tips,
    deposits,
    remote_actors,
    follows,
    followers,
    model_follows,
    chat_messages,
    remote_rooms,
    outbox,
    deliveries,
    verifiers,
    id_documents,
    id_document_keys,
    audit_events,
    reports,
    rooms,
    sessions,
    profiles,
    avatars
);

//! The states the database stores as text, one enum and one mapping each: a typo in a state
//! name is a compile error, not a query that silently matches nothing.

/// Defines a state enum with its stored names.
macro_rules! stored_states {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every state, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database and shown in the API.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The state of a stored name.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_states! {
    /// A payout (`payouts.status`): see docs/settlement.md for the transitions.
    PayoutState {
        /// Accepted and debited; not signed yet.
        Queued = "queued",
        /// Signed and stored; the same bytes are sent until the node knows them.
        Signed = "signed",
        /// Known to the node; followed until confirmed, failed, or replaced.
        Broadcast = "broadcast",
        /// Mined with the confirmations.
        Confirmed = "confirmed",
        /// Certainly not paid; the money is back on the balance.
        Failed = "failed",
    }
}

impl PayoutState {
    /// States in which the money has left the balance but its fate is open.
    pub const IN_FLIGHT: [PayoutState; 3] = [
        PayoutState::Queued,
        PayoutState::Signed,
        PayoutState::Broadcast,
    ];
}

stored_states! {
    /// A transfer into the treasury (`chain_deposits.status`).
    DepositState {
        /// Seen, waiting for its confirmations.
        Pending = "pending",
        /// Counted to the owner of the sending address.
        Credited = "credited",
        /// Counted, waiting for someone to bind the sending address.
        Unattributed = "unattributed",
        /// Less than one ledger unit: kept on chain, credited to nobody.
        Dust = "dust",
    }
}

stored_states! {
    /// A delivery of an activity to one inbox (`deliveries.state`).
    DeliveryState {
        /// Due now or after its backoff.
        Pending = "pending",
        /// Accepted by the inbox.
        Delivered = "delivered",
        /// Refused by the inbox with a final answer.
        Rejected = "rejected",
        /// Given up (too old, or its destination gone).
        Dropped = "dropped",
    }
}

stored_states! {
    /// An ID document (`id_documents.status`): see docs/security.md.
    DocumentState {
        /// Uploaded, waiting for a verifier's decision.
        Pending = "pending",
        /// Approved by a verifier who could read it.
        Approved = "approved",
        /// Rejected, with a reason for the model.
        Rejected = "rejected",
        /// Deleted by the model or superseded: hidden, its key shredded now or after retention.
        Deleted = "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for s in PayoutState::ALL {
            assert_eq!(PayoutState::parse(s.as_str()), Some(*s));
        }
        for s in DepositState::ALL {
            assert_eq!(DepositState::parse(s.as_str()), Some(*s));
        }
        for s in DocumentState::ALL {
            assert_eq!(DocumentState::parse(s.as_str()), Some(*s));
        }
        for s in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(&s.to_string()), Some(*s));
        }
        assert_eq!(PayoutState::parse("Queued"), None);
        assert_eq!(DeliveryState::parse(""), None);
    }
}

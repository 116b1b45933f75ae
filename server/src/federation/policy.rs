//! Who we federate with: the mode (open / allowlist), domain blocks and allows, and the
//! delivery health of each remote instance.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{deliveries, domain_policies, instances, settings};
use crate::db::{now, DbConnection};

pub fn mode(c: &mut DbConnection, default: &str) -> Result<String, diesel::result::Error> {
    Ok(settings::table
        .find("federation_mode")
        .select(settings::value)
        .first::<String>(c)
        .optional()?
        .unwrap_or_else(|| default.to_string()))
}

pub fn set_mode(c: &mut DbConnection, mode: &str) -> Result<(), diesel::result::Error> {
    diesel::delete(settings::table.find("federation_mode")).execute(c)?;
    diesel::insert_into(settings::table)
        .values((
            settings::key.eq("federation_mode"),
            settings::value.eq(mode),
        ))
        .execute(c)?;
    Ok(())
}

/// Whether `domain` may federate with us under the current mode and domain list.
pub fn allowed(
    c: &mut DbConnection,
    domain: &str,
    default_mode: &str,
) -> Result<bool, diesel::result::Error> {
    let domain = domain.to_ascii_lowercase();
    let policy: Option<String> = domain_policies::table
        .find(&domain)
        .select(domain_policies::policy)
        .first(c)
        .optional()?;
    Ok(match policy.as_deref() {
        Some("block") => false,
        Some("allow") => true,
        _ => mode(c, default_mode)? == "open",
    })
}

pub fn set_domain_policy(
    c: &mut DbConnection,
    domain: &str,
    policy: Option<&str>,
) -> Result<(), diesel::result::Error> {
    let domain = domain.to_ascii_lowercase();
    diesel::delete(domain_policies::table.find(&domain)).execute(c)?;
    if let Some(p) = policy {
        diesel::insert_into(domain_policies::table)
            .values((
                domain_policies::domain.eq(&domain),
                domain_policies::policy.eq(p),
                domain_policies::created_at.eq(now()),
            ))
            .execute(c)?;
    }
    if policy == Some("block") {
        // Nothing is sent to a blocked domain, including what was already queued.
        diesel::update(
            deliveries::table
                .filter(deliveries::domain.eq(&domain))
                .filter(deliveries::state.eq(crate::states::DeliveryState::Pending.as_str())),
        )
        .set((
            deliveries::state.eq(crate::states::DeliveryState::Dropped.as_str()),
            deliveries::last_error.eq(Some("domain blocked")),
            deliveries::updated_at.eq(now()),
        ))
        .execute(c)?;
    }
    Ok(())
}

pub fn domain_lists(
    c: &mut DbConnection,
) -> Result<(Vec<String>, Vec<String>), diesel::result::Error> {
    let rows: Vec<(String, String)> = domain_policies::table
        .select((domain_policies::domain, domain_policies::policy))
        .order(domain_policies::domain)
        .load(c)?;
    let blocked = rows
        .iter()
        .filter(|r| r.1 == "block")
        .map(|r| r.0.clone())
        .collect();
    let allowed = rows
        .iter()
        .filter(|r| r.1 == "allow")
        .map(|r| r.0.clone())
        .collect();
    Ok((blocked, allowed))
}

/// The delivery-state row of `domain`, created if missing (safe against a concurrent creator).
pub fn ensure_instance(c: &mut DbConnection, domain: &str) -> Result<(), diesel::result::Error> {
    let exists: Option<String> = instances::table
        .find(domain)
        .select(instances::domain)
        .first(c)
        .optional()?;
    if exists.is_none() {
        crate::db::insert_or_skip(c, |c| {
            diesel::insert_into(instances::table)
                .values((
                    instances::domain.eq(domain),
                    instances::dead.eq(false),
                    instances::delivered.eq(0),
                ))
                .execute(c)
        })?;
    }
    Ok(())
}

/// Whether deliveries to `domain` are failing (or it is marked dead).
pub fn is_failing(c: &mut DbConnection, domain: &str) -> Result<bool, diesel::result::Error> {
    let n: i64 = instances::table
        .find(domain)
        .filter(
            instances::dead
                .eq(true)
                .or(instances::failing_since.is_not_null()),
        )
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

/// An instance sent us a signed activity: if it was failing or dead, it answers again.
pub fn mark_alive_inbound(c: &mut DbConnection, domain: &str) -> Result<(), diesel::result::Error> {
    diesel::update(
        instances::table.find(domain).filter(
            instances::dead
                .eq(true)
                .or(instances::failing_since.is_not_null()),
        ),
    )
    .set((
        instances::dead.eq(false),
        instances::failing_since.eq(None::<NaiveDateTime>),
    ))
    .execute(c)?;
    Ok(())
}

/// The instance answered (delivered to, or sent us something): it is alive again.
pub fn mark_alive(
    c: &mut DbConnection,
    domain: &str,
    delivered: bool,
) -> Result<(), diesel::result::Error> {
    let t = now();
    ensure_instance(c, domain)?;
    let target = instances::table.find(domain);
    diesel::update(target)
        .set((
            instances::dead.eq(false),
            instances::failing_since.eq(None::<NaiveDateTime>),
            instances::last_success_at.eq(Some(t)),
        ))
        .execute(c)?;
    if delivered {
        diesel::update(target)
            .set(instances::delivered.eq(instances::delivered + 1))
            .execute(c)?;
    }
    Ok(())
}

/// Every remote instance with its delivery state and the deliveries waiting for or refused by
/// it (the console's Federation screen).
pub fn instance_deliveries(
    c: &mut DbConnection,
) -> Result<Vec<livestars_api::InstanceDelivery>, diesel::result::Error> {
    use crate::db::schema::{deliveries, instances};
    use livestars_api::InstanceDelivery;
    type Row = (
        String,
        bool,
        Option<chrono::NaiveDateTime>,
        Option<chrono::NaiveDateTime>,
        Option<String>,
        i32,
    );
    let rows: Vec<Row> = instances::table
        .select((
            instances::domain,
            instances::dead,
            instances::failing_since,
            instances::last_success_at,
            instances::last_error,
            instances::delivered,
        ))
        .order(instances::domain)
        .load(c)?;
    let mut out = Vec::with_capacity(rows.len());
    for (domain, dead, failing, success, error, delivered) in rows {
        let pending: i64 = deliveries::table
            .filter(deliveries::domain.eq(&domain))
            .filter(deliveries::state.eq(crate::states::DeliveryState::Pending.as_str()))
            .count()
            .get_result(c)?;
        let refused: i64 = deliveries::table
            .filter(deliveries::domain.eq(&domain))
            .filter(deliveries::state.eq(crate::states::DeliveryState::Rejected.as_str()))
            .count()
            .get_result(c)?;
        out.push(InstanceDelivery {
            domain,
            dead,
            failing_since: failing.map(|t| t.and_utc()),
            last_success_at: success.map(|t| t.and_utc()),
            last_error: error,
            delivered,
            pending,
            refused,
        });
    }
    Ok(out)
}

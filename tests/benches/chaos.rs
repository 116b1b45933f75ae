//! The payout chaos run, longer: two processes on one PostgreSQL, a real hardhat node, payouts
//! requested while the processes are killed and restarted. Prints the counts; exits non-zero
//! when a confirmed payout is not exactly one transfer on chain or the ledger check fails.
//!
//! `cargo bench -p livestars-e2e --bench chaos`
//! Env: BENCH_CHAOS_PAYOUTS (default 300), BENCH_CHAOS_KILLS (default 100),
//! LIVESTARS_TEST_POSTGRES_URL (as for the tests).

use livestars_e2e::chaos::{run, Plan};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let plan = Plan {
        payouts: env("BENCH_CHAOS_PAYOUTS", 300),
        kills: env("BENCH_CHAOS_KILLS", 100),
    };
    let r = run(plan).await;
    println!("payouts requested:          {}", r.requested);
    println!("process kills (SIGKILL):    {}", r.kills);
    println!("confirmed:                  {}", r.confirmed);
    println!("failed (refunded):          {}", r.failed);
    println!("transfers on chain:         {}", r.transfers_on_chain);
    println!(
        "confirmed without transfer: {}",
        r.confirmed_without_transfer
    );
    println!("ledger check passed:        {}", r.ledger_check_passed);
    println!(
        "elapsed:                    {:.1} s",
        r.elapsed.as_secs_f64()
    );
    let ok = r.transfers_on_chain == r.confirmed
        && r.confirmed_without_transfer == 0
        && r.confirmed + r.failed == r.requested
        && r.ledger_check_passed;
    if !ok {
        eprintln!("{}", r.ledger_check);
        std::process::exit(1);
    }
}

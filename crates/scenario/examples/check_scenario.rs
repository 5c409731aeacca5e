//! Prints what `stampede-scenario` makes of scenario files: the error, or a
//! one-line summary of the plan. `cargo run -p stampede-scenario --example check_scenario -- FILE...`

fn main() {
    for arg in std::env::args().skip(1) {
        match stampede_scenario::load(arg.as_ref(), &Default::default()) {
            Ok(plan) => println!(
                "{arg}: ok: {} scenarios, {} flows, {} thresholds",
                plan.scenarios.len(),
                plan.flows.len(),
                plan.thresholds.len()
            ),
            Err(e) => println!("{e}\n"),
        }
    }
}

//! Offline planners: cover, split, free. (Filled in by issue 2's planner work.)

from claw_nb.cli import main

raise SystemExit(main())

from ecgnet.cli import main

raise SystemExit(main())

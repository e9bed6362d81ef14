from nexla_mcp.cli import main

raise SystemExit(main())
